;;;; Stress: joins by waitqueue. Two creators each make a worker, wait for
;;;; it on a waitqueue (CONDITION-WAIT under a mutex, until the worker says
;;;; it is done) and make the next. A worker conses; its exit path conses
;;;; and then, inside WITHOUT-INTERRUPTS, takes the mutex, says it is done
;;;; and notifies. An interrupter sends workers and creators interrupts
;;;; (some inside WITHOUT-INTERRUPTS) and terminates workers once they have
;;;; started their work (a termination before the cleanup is set up would
;;;; leave nothing to notify the creator); a collector collects garbage
;;;; every few milliseconds. A termination can also land in the cleanup
;;;; before its WITHOUT-INTERRUPTS: then nothing notifies, so the creator
;;;; waits until the worker is done or has ended, and the interrupter also
;;;; broadcasts on the queues it sees (a spurious wake-up, which a waitqueue
;;;; allows); such joins are counted as :unnotified. For SBCL_TEST_ARGS
;;;; seconds (default 10); exits 104 when no thread had an error
;;;; (common.lisp: STRESS-FINISH).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds* (test-arg 10))
(defvar *running* t)
;;; The threads the interrupter may pick: creators, then recent workers.
(defvar *targets* (make-array 6 :initial-element nil))

(defstruct join
  (mutex (sb-thread:make-mutex :name "join"))
  (queue (sb-thread:make-waitqueue :name "join"))
  (started nil)
  (done nil))

(defun worker (join)
  (stress-lambda ("worker")
    (unwind-protect
         (progn (setf (join-started join) t)
                (cons-strings (random 5000)))
      (cons-strings (+ 50 (random 300)))
      (sb-sys:without-interrupts
        (sb-thread:with-mutex ((join-mutex join))
          (setf (join-done join) t)
          (sb-thread:condition-notify (join-queue join)))))))

(defun creator (index count unnotified)
  (stress-lambda ("creator")
    (loop while *running*
          do (let* ((join (make-join))
                    (th (sb-thread:make-thread (worker join) :name "worker")))
               (setf (svref *targets* (+ 2 index (* 2 (random 2)))) (cons th join))
               (sb-thread:with-mutex ((join-mutex join))
                 (loop until (or (join-done join) (not (sb-thread:thread-alive-p th)))
                       do (sb-thread:condition-wait (join-queue join) (join-mutex join)))
                 (unless (join-done join) (incf (car unnotified))))
               (incf (car count))))))

(defun interrupter (counts)
  (stress-lambda ("interrupter")
    (loop while *running*
          do (let ((entry (svref *targets* (random 6))))
               (when entry
                 (let ((th (car entry)) (join (cdr entry)))
                   (case (random 4)
                     (0 (try-interrupt th (lambda () (sb-sys:without-interrupts (cons-strings 20))) counts))
                     (1 (try-interrupt th (lambda () (cons-strings 20)) counts))
                     (t (when (and join (join-started join))
                          (when (try-interrupt th #'sb-ext:quit counts)
                            (incf (getf (car counts) :terminations))))))
                   (when join
                     (sb-thread:condition-broadcast (join-queue join))))))
             (sleep (/ (random 3) 1000.0)))))

(defun collector (count)
  (stress-lambda ("collector")
    (loop while *running*
          do (sb-ext:gc)
             (incf (car count))
             (sleep (/ (+ 1 (random 5)) 1000.0)))))

(let* ((start (get-internal-real-time))
       (gcs (list 0))
       (joins (list 0))
       (unnotified (list 0))
       (counts (list (list :terminations 0 :accepted 0 :refused 0)))
       (creators (loop for i below 2
                       collect (let ((th (sb-thread:make-thread (creator i joins unnotified) :name "creator")))
                                 (setf (svref *targets* i) (cons th nil))
                                 th)))
       (others (list (sb-thread:make-thread (interrupter counts) :name "interrupter")
                     (sb-thread:make-thread (collector gcs) :name "collector"))))
  (loop with deadline = (stress-deadline *seconds*)
        while (stress-time-left-p deadline)
        do (sleep 0.05))
  (setf *running* nil)
  (mapc #'wait-polling others)
  ;; The interrupter's broadcasts have ended: a creator whose worker ended
  ;; without notifying gets them from here.
  (loop while (some #'sb-thread:thread-alive-p creators)
        do (loop for entry across *targets*
                 when (and entry (cdr entry))
                   do (sb-thread:condition-broadcast (join-queue (cdr entry))))
           (sleep 0.001))
  (stress-finish "waitqueue" start (list* :joins (car joins) :unnotified (car unnotified) :gcs (car gcs) (car counts))))
